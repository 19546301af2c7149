#pragma once
// casacore 3.5 (Debian bookworm's casacore-dev) does not compile as C++20:
// casa/Containers/Allocator.h takes pointer/reference typedefs, construct(),
// destroy() and max_size() from std::allocator, which C++20 removed
// (casacore fixed this in 3.6). Include THIS header before any casacore
// header in a translation unit: for casacore < 3.6 under C++20 it provides a
// C++20-clean definition of that one header (same classes, same members,
// same behaviour; the typedefs are spelled out and construction goes through
// placement new), and claims its include guard so casacore's own copy is
// skipped. With a fixed casacore it only includes the real header.
//
// Keep public headers free of casacore (pimpl, forward declarations), so
// that only the .cc files that talk to casacore need this.

#include <casacore/casa/version.h>

#if defined(CASA_CONTAINERS_ALLOCATOR_H_) && !defined(CONTIMG_CASACORE_CXX20_ALLOCATOR)
#error "io/ms/casacore_cxx20.h must be included before any other casacore header"
#endif

#if __cplusplus > 201703L && \
    (CASACORE_MAJOR_VERSION < 3 || (CASACORE_MAJOR_VERSION == 3 && CASACORE_MINOR_VERSION < 6))

#ifndef CONTIMG_CASACORE_CXX20_ALLOCATOR
#define CONTIMG_CASACORE_CXX20_ALLOCATOR
#define CASA_CONTAINERS_ALLOCATOR_H_

#include <casacore/casa/Arrays/ArrayFwd.h>
#include <casacore/casa/Utilities/DataType.h>
#include <casacore/casa/aips.h>
#include <casacore/casa/config.h>

#include <cstddef>
#include <cstdlib>
#include <limits>
#include <memory>
#include <new>
#include <type_traits>
#include <typeinfo>
#include <utility>

namespace casacore {

#ifndef CASA_DEFAULT_ALIGNMENT
#define CASA_DEFAULT_ALIGNMENT (32UL)
#endif

class ArrayInitPolicy {
 public:
  Bool operator==(ArrayInitPolicy const& other) { return init == other.init; }
  Bool operator!=(ArrayInitPolicy const& other) { return init != other.init; }

 private:
  Bool init;
  explicit constexpr ArrayInitPolicy(bool v) : init(v) {}
  friend struct ArrayInitPolicies;
};

struct ArrayInitPolicies {
  static constexpr ArrayInitPolicy NO_INIT = ArrayInitPolicy(false);
  static constexpr ArrayInitPolicy INIT = ArrayInitPolicy(true);
};

template <typename T>
using std11_allocator = std::allocator<T>;

template <typename T, size_t ALIGNMENT = CASA_DEFAULT_ALIGNMENT>
struct casacore_allocator : public std11_allocator<T> {
  typedef std11_allocator<T> Super;
  typedef std::size_t size_type;
  typedef std::ptrdiff_t difference_type;
  typedef T* pointer;
  typedef const T* const_pointer;
  typedef T& reference;
  typedef const T& const_reference;
  typedef T value_type;

  static constexpr size_t alignment = ALIGNMENT;

  template <typename TOther>
  struct rebind {
    typedef casacore_allocator<TOther> other;
  };
  casacore_allocator() noexcept {}
  casacore_allocator(const casacore_allocator& other) noexcept : Super(other) {}
  template <typename TOther>
  casacore_allocator(const casacore_allocator<TOther>&) noexcept {}
  ~casacore_allocator() noexcept {}

  size_type max_size() const noexcept { return std::numeric_limits<size_type>::max() / sizeof(T); }

  pointer allocate(size_type elements, const void* = 0) {
    if (elements > this->max_size()) throw std::bad_alloc();
    void* memptr = 0;
    if (posix_memalign(&memptr, ALIGNMENT, sizeof(T) * elements) != 0) throw std::bad_alloc();
    return static_cast<pointer>(memptr);
  }
  void deallocate(pointer ptr, size_type) { free(ptr); }

  template <typename U, typename... Args>
  void construct(U* ptr, Args&&... args) {
    ::new (static_cast<void*>(ptr)) U(std::forward<Args>(args)...);
  }
  template <typename U>
  void destroy(U* ptr) {
    ptr->~U();
  }
};

template <typename T, size_t ALIGNMENT>
inline bool operator==(const casacore_allocator<T, ALIGNMENT>&,
                       const casacore_allocator<T, ALIGNMENT>&) {
  return true;
}

template <typename T, size_t ALIGNMENT>
inline bool operator!=(const casacore_allocator<T, ALIGNMENT>&,
                       const casacore_allocator<T, ALIGNMENT>&) {
  return false;
}

template <typename T>
struct new_del_allocator : public std11_allocator<T> {
  typedef std11_allocator<T> Super;
  typedef std::size_t size_type;
  typedef std::ptrdiff_t difference_type;
  typedef T* pointer;
  typedef const T* const_pointer;
  typedef T& reference;
  typedef const T& const_reference;
  typedef T value_type;

  template <typename TOther>
  struct rebind {
    typedef new_del_allocator<TOther> other;
  };
  new_del_allocator() noexcept {}
  new_del_allocator(const new_del_allocator& other) noexcept : Super(other) {}
  template <typename TOther>
  new_del_allocator(const new_del_allocator<TOther>&) noexcept {}
  ~new_del_allocator() noexcept {}

  size_type max_size() const noexcept { return std::numeric_limits<size_type>::max() / sizeof(T); }

  pointer allocate(size_type elements, const void* = 0) {
    if (elements > this->max_size()) throw std::bad_alloc();
    return new T[elements];
  }
  void deallocate(pointer ptr, size_type) { delete[] ptr; }
  // new T[] constructed the elements already: construction assigns.
  template <typename U, typename... Args>
  void construct(U*, Args&&...) {}
  template <typename U>
  void construct(U* ptr, U&& value) {
    *ptr = value;
  }
  template <typename U>
  void construct(U* ptr, U& value) {
    *ptr = value;
  }
  template <typename U>
  void construct(U* ptr, U const& value) {
    *ptr = value;
  }
  template <typename U>
  void destroy(U*) {}  // delete[] destroys
};

template <typename T>
inline bool operator==(const new_del_allocator<T>&, const new_del_allocator<T>&) {
  return true;
}

template <typename T>
inline bool operator!=(const new_del_allocator<T>&, const new_del_allocator<T>&) {
  return false;
}

template <typename T>
class Block;

class Allocator_private {
  template <typename T>
  friend class AbstractAllocator;
  template <typename T, typename Sub>
  friend class BaseAllocator;
  template <typename T>
  friend class Block;

  template <typename T2>
  struct BulkAllocator {
    typedef std::size_t size_type;
    typedef T2* pointer;
    typedef const T2* const_pointer;
    typedef T2 value_type;

    virtual pointer allocate(size_type elements, const void* ptr = 0) = 0;
    virtual void deallocate(pointer ptr, size_type size) = 0;

    virtual void construct(pointer ptr, size_type n, const_pointer src) = 0;
    virtual void construct(pointer ptr, size_type n, value_type const& initial_value) = 0;
    virtual void construct(pointer ptr, size_type n) = 0;
    virtual void destroy(pointer ptr, size_type n) = 0;
    virtual std::type_info const& allocator_typeid() const = 0;
    virtual ~BulkAllocator() {}
  };

  template <typename Allocator>
  struct BulkAllocatorImpl : public BulkAllocator<typename Allocator::value_type> {
    typedef typename Allocator::size_type size_type;
    typedef typename Allocator::pointer pointer;
    typedef typename Allocator::const_pointer const_pointer;
    typedef typename Allocator::value_type value_type;
    virtual pointer allocate(size_type elements, const void* ptr = 0) override {
      return allocator.allocate(elements, ptr);
    }
    virtual void deallocate(pointer ptr, size_type size) override {
      allocator.deallocate(ptr, size);
    }
    virtual void construct(pointer ptr, size_type n, const_pointer src) override {
      size_type i = 0;
      try {
        for (i = 0; i < n; ++i) allocator.construct(&ptr[i], src[i]);
      } catch (...) {
        destroy(ptr, i);
        throw;
      }
    }
    virtual void construct(pointer ptr, size_type n, value_type const& initial_value) override {
      size_type i = 0;
      try {
        for (i = 0; i < n; ++i) allocator.construct(&ptr[i], initial_value);
      } catch (...) {
        destroy(ptr, i);
        throw;
      }
    }
    virtual void construct(pointer ptr, size_type n) override {
      size_type i = 0;
      try {
        for (i = 0; i < n; ++i) allocator.construct(&ptr[i]);
      } catch (...) {
        destroy(ptr, i);
        throw;
      }
    }
    virtual void destroy(pointer ptr, size_type n) override {
      for (size_type i = n; i > 0;) {
        --i;
        try {
          allocator.destroy(&ptr[i]);
        } catch (...) {
        }
      }
    }
    virtual std::type_info const& allocator_typeid() const override { return typeid(Allocator); }
    virtual ~BulkAllocatorImpl() override {}

   private:
    static Allocator allocator;
  };

  template <typename Allocator>
  static BulkAllocator<typename Allocator::value_type>* get_allocator() {
    return get_allocator_raw<Allocator>();
  }

  template <typename Allocator>
  static BulkAllocatorImpl<Allocator>* get_allocator_raw() {
    // Never destroyed: used by destructors of static objects.
    static typename std::aligned_storage<sizeof(BulkAllocatorImpl<Allocator>),
                                         alignof(BulkAllocatorImpl<Allocator>)>::type storage;
    static BulkAllocatorImpl<Allocator>* ptr =
        new (reinterpret_cast<BulkAllocatorImpl<Allocator>*>(&storage)) BulkAllocatorImpl<Allocator>();
    return ptr;
  }

  template <typename T>
  struct AllocSpec {
    BulkAllocator<T>* allocator;
    explicit AllocSpec(BulkAllocator<T>* alloc) : allocator(alloc) {}
  };
};

template <typename Allocator>
Allocator Allocator_private::BulkAllocatorImpl<Allocator>::allocator;

template <typename T>
class AbstractAllocator {
 public:
  typedef T value_type;
  virtual ~AbstractAllocator() {}

 protected:
  AbstractAllocator() {}
  friend class Array<T>;
  friend class Block<T>;

  virtual Allocator_private::BulkAllocator<T>* getAllocator() const = 0;
};

template <typename T, typename Sub>
class BaseAllocator : public AbstractAllocator<T> {
 public:
  typedef T value_type;
  typedef Sub facade_type;
  virtual ~BaseAllocator() {}

 protected:
  BaseAllocator() {}

  virtual typename Allocator_private::BulkAllocator<T>* getAllocator() const override {
    return Allocator_private::get_allocator<typename facade_type::type>();
  }
};

template <typename T>
class NewDelAllocator : public BaseAllocator<T, NewDelAllocator<T> > {
 public:
  typedef new_del_allocator<T> type;
  static NewDelAllocator<T> value;

 protected:
  NewDelAllocator() {}
};
template <typename T>
NewDelAllocator<T> NewDelAllocator<T>::value;

template <typename T, size_t ALIGNMENT = CASA_DEFAULT_ALIGNMENT>
class AlignedAllocator : public BaseAllocator<T, AlignedAllocator<T, ALIGNMENT> > {
 public:
  typedef casacore_allocator<T, ALIGNMENT> type;
  static AlignedAllocator<T, ALIGNMENT> value;

 protected:
  AlignedAllocator() {}
};
template <typename T, size_t ALIGNMENT>
AlignedAllocator<T, ALIGNMENT> AlignedAllocator<T, ALIGNMENT>::value;

template <typename T>
class DefaultAllocator : public AlignedAllocator<T> {
 public:
  typedef typename AlignedAllocator<T>::type type;
  static DefaultAllocator<T> value;

 protected:
  DefaultAllocator() {}
};
template <typename T>
DefaultAllocator<T> DefaultAllocator<T>::value;

template <typename T>
struct AllocSpec {
  typedef T type;
  static AllocSpec<T> const value;
};
template <typename T>
AllocSpec<T> const AllocSpec<T>::value = AllocSpec<T>();

}  // namespace casacore

#endif  // CONTIMG_CASACORE_CXX20_ALLOCATOR
#endif  // casacore < 3.6 under C++20
